"""Renderers: Markdown (Jinja), HTML (markdown-it-py), PDF (WeasyPrint). One module each."""
