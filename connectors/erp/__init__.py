"""Odoo, the ERP: the connector (connector.py) over httpx (client.py, JSON-2 or JSON-RPC), and its sandbox (sandbox/).

Register with `REGISTRY["erp"] = from_settings`; settings are ErpSettings' fields (REVLINE_ERP_*).
"""
