"""The processes: how gunicorn serves the app, the background job worker, and maintenance."""
