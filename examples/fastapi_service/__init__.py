"""The integration guide's "Complete Example", done with sentinel-vectors.

``python -m examples.fastapi_service`` runs it (see ``README.md`` here).
"""
