"""Optional Django app: add "reportgen.django_app" to INSTALLED_APPS for
``python manage.py incident_assessment`` (install with ``pip install 'reportgen[django]'``)."""
