"""Trunkline: a self-hosted SIP line service speaking the Bitrix24 voximplant.sip.* REST API."""

__version__ = "0.1.0"
