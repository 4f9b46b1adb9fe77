"""Choose the ERP connector from the settings (`ERP_CONNECTOR`)."""

from __future__ import annotations

from shared.adapters.storage_clients import blob_service
from shared.config import Settings, SettingsError
from shared.domain.journals import ErpConnector


def connector_from_settings(settings: Settings) -> ErpConnector:
    if settings.erp_connector == "outbox":
        from shared.adapters.erp_outbox import BlobOutboxConnector

        return BlobOutboxConnector(blob_service())
    if not settings.erp_odata_url:
        raise SettingsError("invalid settings: ERP_ODATA_URL is required when ERP_CONNECTOR is odata")
    from shared.adapters.erp_odata import odata_connector_from_settings

    return odata_connector_from_settings(
        settings.erp_odata_url,
        tenant_id=settings.erp_odata_tenant_id or None,
        client_id=settings.erp_odata_client_id or None,
        client_secret=settings.erp_odata_client_secret or None,
        post_action=settings.erp_odata_post_action or None,
    )
