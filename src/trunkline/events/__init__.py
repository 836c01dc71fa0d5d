"""Outbound events: what Trunkline POSTs to applications' handler URLs, and how.

``delivery.py`` sends a form in the background with retries; ``forms.py`` builds the
bodies (``ONAPPINSTALL``, ``ONAPPUNINSTALL``) in the order Bitrix24 sends them."""
