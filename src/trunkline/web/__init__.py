"""The composition root: settings -> storage -> services -> the ASGI application.

``app.py`` is the application of one worker; ``bootstrap.py`` prepares the database
and keys before any worker starts; ``control.py`` is each worker's control plane (the
one place that hands the dispatcher its guard); ``operator.py`` and ``oauth_pages.py``
are the HTTP pages outside ``/rest/``. Only the entry points (``cli/``, uvicorn's
factory) import this package."""
