"""Business rules, one module per subject: lines, accounts, apps, control.

Each service is a class named ``<Subject>Service`` that is handed the repository it
reads and writes (and the clock where time matters); ``bundle.py`` is what the REST
method handlers receive. Services never import the wire (``rest/``) or the
composition root (``web/``)."""
