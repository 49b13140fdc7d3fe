"""The price table and the live Price List lookup (a botocore Stubber stands in for AWS: moto has no Pricing API)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from mwaa_hibernate.pricing import (
    METADATA_STORAGE_PER_GB_MONTH,
    LivePriceLookupFailed,
    PriceUnavailable,
    UnknownEnvironmentClass,
    live_prices,
    resolve_prices,
    table_prices,
)

EXPECTED_REQUEST = {
    "ServiceCode": "AmazonMWAA",
    "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"}],
    "FormatVersion": "aws_v1",
}


def price_list_item(*, usagetype: str, usd: str, size: str = "", kind: str = "") -> str:
    """One GetProducts PriceList entry, shaped like the Price List API's (a JSON document in a string)."""
    attributes = {"usagetype": usagetype, "regionCode": "eu-west-1", "servicecode": "AmazonMWAA"}
    if size:
        attributes |= {"size": size, "type": kind}
    sku = usagetype.replace("-", "")
    return json.dumps(
        {
            "product": {"sku": sku, "attributes": attributes},
            "serviceCode": "AmazonMWAA",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}
                        }
                    }
                }
            },
        }
    )


# Made-up Ireland figures, distinct from the table's, so the test proves they came from the API.
PAGE_ONE = [
    price_list_item(usagetype="EU-Airflow-SmallEnvironment", usd="0.5300000000", size="Small", kind="Environment"),
    price_list_item(usagetype="EU-Airflow-MediumEnvironment", usd="0.8000000000", size="Medium", kind="Environment"),
    price_list_item(usagetype="EU-Airflow-SmallWorker", usd="0.0600000000", size="Small", kind="Worker"),
]
PAGE_TWO = [
    price_list_item(usagetype="EU-Airflow-SmallScheduler", usd="0.0600000000", size="Small", kind="Scheduler"),
    price_list_item(usagetype="EU-Airflow-SmallWebServer", usd="0.0300000000", size="Small", kind="Web Server"),
    price_list_item(usagetype="EU-Airflow-StandardDatabaseStorage", usd="0.1100000000"),
]


@pytest.fixture
def pricing() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_table_has_the_researched_us_east_1_prices() -> None:
    small = table_prices(environment_class="mw1.small", region="us-east-1")
    assert (small.environment_per_hour, small.extra_worker_per_hour, small.extra_webserver_per_hour) == (
        0.49,
        0.055,
        0.028,
    )
    assert table_prices(environment_class="mw1.medium", region="us-east-1").environment_per_hour == 0.74
    assert table_prices(environment_class="mw1.large", region="us-east-1").extra_scheduler_per_hour == 0.22
    assert small.metadata_storage_per_gb_month == 0.10
    assert "as of 2026-08" in small.source


@pytest.mark.parametrize("environment_class", ["mw1.micro", "mw1.xlarge", "mw1.2xlarge"])
def test_unverified_classes_are_refused_not_guessed(environment_class: str) -> None:
    with pytest.raises(PriceUnavailable, match=r"pass --live .* or --price-per-hour"):
        table_prices(environment_class=environment_class, region="us-east-1")


def test_a_region_outside_the_table_is_refused_with_what_to_do() -> None:
    with pytest.raises(PriceUnavailable, match=r"mw1.small in eu-west-1 .* pass --live"):
        resolve_prices(environment_class="mw1.small", region="eu-west-1")


def test_unknown_class_names_the_valid_ones() -> None:
    with pytest.raises(UnknownEnvironmentClass, match=r"'mw1.huge' is not an MWAA environment class; use one of"):
        resolve_prices(environment_class="mw1.huge", region="us-east-1")


def test_price_per_hour_overrides_and_keeps_no_unverified_extras() -> None:
    prices = resolve_prices(environment_class="mw1.xlarge", region="eu-west-1", price_per_hour=1.5)
    assert prices.environment_per_hour == 1.5
    assert prices.extra_worker_per_hour is None
    assert prices.metadata_storage_per_gb_month == METADATA_STORAGE_PER_GB_MONTH
    with pytest.raises(PriceUnavailable, match="positive"):
        resolve_prices(environment_class="mw1.small", region="us-east-1", price_per_hour=0)


def test_live_prices_follow_next_token_and_pick_the_class(pricing: tuple[object, Stubber]) -> None:
    client, stubber = pricing
    stubber.add_response("get_products", {"PriceList": PAGE_ONE, "NextToken": "page-2"}, EXPECTED_REQUEST)
    stubber.add_response("get_products", {"PriceList": PAGE_TWO}, {**EXPECTED_REQUEST, "NextToken": "page-2"})

    prices = resolve_prices(environment_class="mw1.small", region="eu-west-1", live=True, client=client)

    assert prices.environment_per_hour == 0.53  # not Medium's 0.80
    assert prices.extra_worker_per_hour == 0.06
    assert prices.extra_scheduler_per_hour == 0.06
    assert prices.extra_webserver_per_hour == 0.03
    assert prices.metadata_storage_per_gb_month == 0.11
    assert prices.source.startswith("AWS Price List API (AmazonMWAA, eu-west-1)")


def test_live_lookup_without_the_class_says_so(pricing: tuple[object, Stubber]) -> None:
    client, stubber = pricing
    stubber.add_response("get_products", {"PriceList": PAGE_ONE}, EXPECTED_REQUEST)
    with pytest.raises(PriceUnavailable, match=r"no on-demand AmazonMWAA environment price for mw1\.large"):
        live_prices(environment_class="mw1.large", region="eu-west-1", client=client)


def test_live_lookup_access_denied_names_the_permission(pricing: tuple[object, Stubber]) -> None:
    client, stubber = pricing
    stubber.add_client_error("get_products", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(LivePriceLookupFailed, match="needs the IAM permission pricing:GetProducts"):
        live_prices(environment_class="mw1.small", region="eu-west-1", client=client)
