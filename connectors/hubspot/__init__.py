"""HubSpot: the connector (connector.py) over hubspot-api-client (client.py), and its sandbox (sandbox/)."""
