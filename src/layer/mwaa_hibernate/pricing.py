"""Prices the savings estimator uses: a table kept in code (with date, region and source), or live from AWS.

The table holds only figures two independent sources agree on. Everything else is refused with a message that
says how to get a price (``--live`` or ``--price-per-hour``) rather than guessed: an estimate built on a made-up
price is worse than none.

Live prices come from the AWS Price List API (``pricing:GetProducts``, service code ``AmazonMWAA``). Its products
carry the attributes ``regionCode``, ``size`` (``Small``, ``Medium``...) and ``type`` (``Environment``, ``Worker``,
``Scheduler``...), and the metadata storage has a usage type ending in ``Airflow-StandardDatabaseStorage`` (infracost
``internal/resources/aws/mwaa_environment.go`` and its pricing database dump).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mwaa_hibernate.exceptions import MwaaHibernateError

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient

__all__ = [
    "KNOWN_ENVIRONMENT_CLASSES",
    "ORCHESTRATION_PRICES",
    "PRICE_TABLE_DATE",
    "EnvironmentPrices",
    "EstimateError",
    "LivePriceLookupFailed",
    "OrchestrationPrices",
    "PriceUnavailable",
    "UnknownEnvironmentClass",
    "live_prices",
    "resolve_prices",
    "table_prices",
]

logger = logging.getLogger(__name__)

# When the table's figures were last compared with their sources (the newest source seen is from Aug 2026).
PRICE_TABLE_DATE = "2026-08"

# Every class CreateEnvironment accepts (botocore mwaa service model). Some have no verified price yet.
KNOWN_ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")

# The Price List API is served from a few regions only; us-east-1 answers for every region's prices.
PRICING_API_REGION = "us-east-1"
MWAA_SERVICE_CODE = "AmazonMWAA"
_STORAGE_USAGE_SUFFIX = "airflow-standarddatabasestorage"

_SOURCE_US_EAST_1 = (
    "infracost golden file mwaa_environment_test.golden (us-east-1) and dev.classmethod.jp "
    "amazon-mwaa-serverless-cost-comparison; figures as of " + PRICE_TABLE_DATE
)
_SOURCE_TOKYO = (
    "dev.classmethod.jp amazon-mwaa-serverless-cost-comparison (Tokyo prices identical to us-east-1); "
    "as of " + PRICE_TABLE_DATE
)
# Metadata database storage, USD per GB-month, billed only while the environment exists (same two sources).
METADATA_STORAGE_PER_GB_MONTH = 0.10


class EstimateError(MwaaHibernateError):
    """Base of every error the savings estimator raises; the message says what is wrong and what to do."""


class UnknownEnvironmentClass(EstimateError):
    """The environment class is not one MWAA offers."""


class PriceUnavailable(EstimateError):
    """No verified price for this class, region or extra component: the caller must supply one."""


class LivePriceLookupFailed(EstimateError):
    """The AWS Price List API could not be asked, or did not answer with a usable price."""


@dataclass(frozen=True)
class EnvironmentPrices:
    """USD prices for one environment class in one region; None means "no verified price"."""

    environment_class: str
    region: str
    environment_per_hour: float
    extra_worker_per_hour: float | None
    extra_scheduler_per_hour: float | None
    extra_webserver_per_hour: float | None
    metadata_storage_per_gb_month: float
    source: str


def _table_row(
    environment_class: str,
    region: str,
    env: float,
    worker: float | None,
    scheduler: float | None,
    web: float | None,
    source: str,
) -> EnvironmentPrices:
    return EnvironmentPrices(
        environment_class=environment_class,
        region=region,
        environment_per_hour=env,
        extra_worker_per_hour=worker,
        extra_scheduler_per_hour=scheduler,
        extra_webserver_per_hour=web,
        metadata_storage_per_gb_month=METADATA_STORAGE_PER_GB_MONTH,
        source=source,
    )


# USD per hour: environment (1 scheduler, 1 worker and the web server included), extra worker, extra scheduler,
# extra web server. mw1.micro, mw1.xlarge and mw1.2xlarge are deliberately absent: no two sources agree on them.
_PRICE_TABLE: dict[tuple[str, str], EnvironmentPrices] = {
    (region, row.environment_class): replace(row, region=region, source=source)
    for region, source in (("us-east-1", _SOURCE_US_EAST_1), ("ap-northeast-1", _SOURCE_TOKYO))
    for row in (
        _table_row("mw1.small", region, 0.49, 0.055, 0.055, 0.028, source),
        _table_row("mw1.medium", region, 0.74, 0.11, 0.11, 0.055, source),
        _table_row("mw1.large", region, 0.99, 0.22, 0.22, 0.11, source),
    )
}


@dataclass(frozen=True)
class OrchestrationPrices:
    """USD prices of what the hibernation machinery itself uses (us-east-1 list prices, free tiers ignored)."""

    step_functions_per_transition: float
    lambda_per_request: float
    lambda_per_gb_second: float
    s3_standard_per_gb_month: float
    s3_put_per_request: float
    s3_get_per_request: float
    kms_key_per_month: float
    kms_per_request: float
    scheduler_per_invocation: float
    source: str


# These are us-east-1 list prices used for every region (other regions differ by a few percent, on a cost that is
# cents a month). Free tiers are ignored so the figure is an upper bound. Not checked against the Price List API here.
ORCHESTRATION_PRICES = OrchestrationPrices(
    # Step Functions Standard: $0.025 per 1,000 state transitions (aws.amazon.com/step-functions/pricing).
    step_functions_per_transition=0.025 / 1000,
    # Lambda x86: $0.20 per million requests, $0.0000166667 per GB-second (AWS whitepaper "How AWS Pricing Works").
    lambda_per_request=0.20 / 1_000_000,
    lambda_per_gb_second=0.0000166667,
    # S3 Standard: $0.023 per GB-month (first 50 TB), PUT $0.005 and GET $0.0004 per 1,000 (aws.amazon.com/s3/pricing).
    s3_standard_per_gb_month=0.023,
    s3_put_per_request=0.005 / 1000,
    s3_get_per_request=0.0004 / 1000,
    # KMS: $1 per customer managed key per month, $0.03 per 10,000 requests (aws.amazon.com/kms/pricing).
    kms_key_per_month=1.00,
    kms_per_request=0.03 / 10_000,
    # EventBridge Scheduler: $1.00 per million invocations after 14 million free (aws.amazon.com/eventbridge/pricing).
    scheduler_per_invocation=1.00 / 1_000_000,
    source="AWS public pricing pages, us-east-1, free tiers ignored; not re-checked against the Price List API",
)


def _check_class(environment_class: str) -> None:
    if environment_class not in KNOWN_ENVIRONMENT_CLASSES:
        raise UnknownEnvironmentClass(
            f"{environment_class!r} is not an MWAA environment class; use one of {', '.join(KNOWN_ENVIRONMENT_CLASSES)}"
        )


def table_prices(*, environment_class: str, region: str) -> EnvironmentPrices:
    """The verified prices kept in code; PriceUnavailable (never a guess) when the table has none."""
    _check_class(environment_class)
    try:
        return _PRICE_TABLE[(region, environment_class)]
    except KeyError:
        classes = ", ".join(sorted({cls for _, cls in _PRICE_TABLE}))
        regions = ", ".join(sorted({reg for reg, _ in _PRICE_TABLE}))
        raise PriceUnavailable(
            f"no verified price for {environment_class} in {region} in the built-in table (as of {PRICE_TABLE_DATE} "
            f"it has {classes} in {regions}); pass --live to ask the AWS Price List API, "
            "or --price-per-hour with the environment price from the MWAA pricing page"
        ) from None


def resolve_prices(
    *,
    environment_class: str,
    region: str,
    live: bool = False,
    price_per_hour: float | None = None,
    client: PricingClient | None = None,
) -> EnvironmentPrices:
    """Pick the price source: an explicit hourly price wins, then ``live``, then the table."""
    _check_class(environment_class)
    if price_per_hour is not None:
        if price_per_hour <= 0:
            raise PriceUnavailable(f"--price-per-hour must be a positive USD amount, not {price_per_hour}")
        try:
            base = table_prices(environment_class=environment_class, region=region)
        except PriceUnavailable:
            base = _table_row(environment_class, region, 0.0, None, None, None, "")
        return replace(
            base,
            environment_per_hour=price_per_hour,
            source=f"environment price given on the command line; other figures: {base.source or 'none verified'}",
        )
    if live:
        return live_prices(environment_class=environment_class, region=region, client=client)
    return table_prices(environment_class=environment_class, region=region)


def live_prices(*, environment_class: str, region: str, client: PricingClient | None = None) -> EnvironmentPrices:
    """Ask the AWS Price List API for this class's on-demand prices in ``region``."""
    _check_class(environment_class)
    size = environment_class.removeprefix("mw1.").lower()
    by_type: dict[str, float] = {}
    storage: float | None = None
    for product in _mwaa_products(region=region, client=client):
        attributes = product.get("product", {}).get("attributes", {})
        price = _on_demand_usd(product)
        if price is None:
            continue
        if attributes.get("usagetype", "").lower().endswith(_STORAGE_USAGE_SUFFIX):
            storage = price
        elif attributes.get("size", "").lower() == size:
            kind = attributes.get("type", "").replace(" ", "").lower()
            by_type[kind] = price
    if "environment" not in by_type:
        raise PriceUnavailable(
            f"the AWS Price List API has no on-demand {MWAA_SERVICE_CODE} environment price for {environment_class} "
            f"in {region}; check that MWAA offers this class there, or pass --price-per-hour"
        )
    source = f"AWS Price List API ({MWAA_SERVICE_CODE}, {region}), fetched live"
    if storage is None:
        storage = METADATA_STORAGE_PER_GB_MONTH
        source += f"; metadata storage price not listed, table value ${storage}/GB-month used"
    logger.info("live MWAA prices for %s in %s: %s", environment_class, region, by_type)
    return EnvironmentPrices(
        environment_class=environment_class,
        region=region,
        environment_per_hour=by_type["environment"],
        extra_worker_per_hour=by_type.get("worker"),
        extra_scheduler_per_hour=by_type.get("scheduler"),
        extra_webserver_per_hour=by_type.get("webserver"),
        metadata_storage_per_gb_month=storage,
        source=source,
    )


def _default_client() -> PricingClient:
    """The Price List API client, built only when a live price is asked for."""
    import boto3

    return boto3.client("pricing", region_name=PRICING_API_REGION)


def _mwaa_products(*, region: str, client: PricingClient | None) -> list[dict[str, Any]]:
    """Every AmazonMWAA product of one region, following NextToken; botocore errors become one sentence."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        client = _default_client()
    request: dict[str, Any] = {
        "ServiceCode": MWAA_SERVICE_CODE,
        "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
        "FormatVersion": "aws_v1",
    }
    products: list[dict[str, Any]] = []
    try:
        while True:
            page = client.get_products(**request)
            products.extend(json.loads(item) for item in page.get("PriceList", []))
            token = page.get("NextToken")
            if not token:
                return products
            request["NextToken"] = token
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        hint = "the caller needs the IAM permission pricing:GetProducts" if "AccessDenied" in code else str(exc)
        raise LivePriceLookupFailed(
            f"the AWS Price List API refused the request ({code}): {hint}; or drop --live to use the built-in table"
        ) from exc
    except BotoCoreError as exc:
        raise LivePriceLookupFailed(
            f"could not reach the AWS Price List API: {exc}; check your AWS credentials and network, "
            "or drop --live to use the built-in table"
        ) from exc


def _on_demand_usd(product: dict[str, Any]) -> float | None:
    """The first on-demand USD unit price of a Price List product, or None if it has none."""
    for offer in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in offer.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None:
                return float(usd)
    return None
