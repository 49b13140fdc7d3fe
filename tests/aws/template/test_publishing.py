"""Publishing to the AWS Serverless Application Repository (SAR): what can be checked without AWS.

`sam publish` itself cannot run here (moto has no serverlessrepo), so this checks the three things it depends on:
every resource type is one SAR accepts (docs/sar-supported-resources.txt, with its source and date), the
`AWS::ServerlessRepo::Application` metadata meets SAR's constraints, and `sam package` of the built application
uploads every artifact and rewrites every local path to S3 (against moto's S3 server).
"""

from __future__ import annotations

import re
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from mwaa_hibernate_sandbox.template import SamTemplate
from sam_helpers import REGION, VARIANTS, sam_environment

SUPPORTED_LIST = Path("docs") / "sar-supported-resources.txt"
# Types the template uses that no copy of SAR's list we could read confirms. Each needs a reason; remove an entry
# (and add the type to the list file, with the copy's date) once AWS's page confirms it.
UNCONFIRMED = {
    # SAM's ScheduleV2 event (the hibernate and wake schedules) generates it. Absent from the 2021 copy of the list;
    # `sam publish` rejected a ScheduleV2 event in 2023 (aws/aws-sam-cli#4543). If SAR refuses it, the fallback is
    # the `Schedule` event type (an AWS::Events::Rule, which is listed), whose cron is UTC only.
    "AWS::Scheduler::Schedule": "ScheduleV2 schedules (time zone aware); SAR support unconfirmed",
    # The adaptive schedule's group (its one-time schedules go when the stack goes); same family, same doubt.
    "AWS::Scheduler::ScheduleGroup": "the adaptive schedule's group; SAR support unconfirmed",
}
RESOURCE_TYPE = re.compile(r"^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$")

# SAR metadata constraints (AWS SAM developer guide, "Publishing applications: metadata properties").
NAME = re.compile(r"^[a-zA-Z0-9\-]{1,140}$")
DESCRIPTION_MAX = 256
AUTHOR = re.compile(r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$")
AUTHOR_MAX = 127
LABELS_MAX = 10
LABEL = re.compile(r"^[a-zA-Z0-9+\-_:/@]{1,127}$")
# Semantic Versioning 2.0.0, the regular expression semver.org recommends.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
# SAR's limit for the license and readme files.
ARTIFACT_MAX_BYTES = 5 * 1024 * 1024
# Publishing to the public repository needs these too (the others are required always).
REQUIRED_METADATA = ("Name", "Description", "Author", "LicenseUrl", "SemanticVersion")

ARTIFACT_BUCKET = "mwaa-hibernate-sar-artifacts"
# sam package uploads a few MB (the layer dominates); moto answers locally.
SAM_PACKAGE_TIMEOUT_SECONDS = 180


def supported_types(root: Path) -> list[str]:
    lines = (root / SUPPORTED_LIST).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def supported(template: SamTemplate) -> set[str]:
    return set(supported_types(template.root))


@pytest.fixture(scope="module")
def metadata(template: SamTemplate) -> dict[str, Any]:
    return template.document.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {})


def test_supported_list_is_well_formed(template: SamTemplate) -> None:
    types = supported_types(template.root)
    assert len(types) > 100, f"{SUPPORTED_LIST} looks truncated: {len(types)} types"
    malformed = [t for t in types if not RESOURCE_TYPE.match(t)]
    assert not malformed, f"{SUPPORTED_LIST}: not resource types: {malformed}"
    duplicates = sorted({t for t in types if types.count(t) > 1})
    assert not duplicates, f"{SUPPORTED_LIST}: listed twice: {duplicates}"
    confirmed_now = sorted(set(types) & set(UNCONFIRMED))
    assert not confirmed_now, f"{confirmed_now} are in {SUPPORTED_LIST}: remove them from UNCONFIRMED"


def test_sam_resource_types_are_supported(template: SamTemplate, supported: set[str]) -> None:
    """SAR validates the SAM template as published (before the transform), so its own types count too."""
    used = {res["Type"] for res in template.resources.values()}
    refused = sorted(used - supported - set(UNCONFIRMED))
    assert not refused, f"SAR does not accept {refused} (per {SUPPORTED_LIST}); sam publish would fail"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_transformed_resource_types_are_supported(template: SamTemplate, supported: set[str], variant: str) -> None:
    """Every resource CloudFormation would create, conditional ones included (SAR sees the whole template)."""
    document = template.transformed(VARIANTS[variant], region=REGION)
    used = {res["Type"] for res in document["Resources"].values()}
    refused = sorted(used - supported - set(UNCONFIRMED))
    assert not refused, f"SAR does not accept {refused} (per {SUPPORTED_LIST}); sam publish would fail"
    stale = sorted(set(UNCONFIRMED) - used)
    assert not stale, f"UNCONFIRMED lists {stale}, which the template no longer creates: remove them"


def test_metadata_has_what_public_publishing_needs(metadata: dict[str, Any]) -> None:
    missing = [key for key in REQUIRED_METADATA if not metadata.get(key)]
    assert not missing, f"AWS::ServerlessRepo::Application lacks {missing}"
    # SAR reads the metadata literally: intrinsic functions are not supported there.
    not_plain = {k: v for k, v in metadata.items() if not isinstance(v, (str, list))}
    assert not not_plain, f"metadata values must be plain strings or lists, got {not_plain}"


def test_metadata_name_description_author(metadata: dict[str, Any]) -> None:
    assert NAME.match(metadata["Name"]), f"Name {metadata['Name']!r}: 1-140 of [a-zA-Z0-9-]"
    assert 0 < len(metadata["Description"]) <= DESCRIPTION_MAX, (
        f"Description is {len(metadata['Description'])} chars; SAR allows {DESCRIPTION_MAX}"
    )
    author = metadata["Author"]
    assert len(author) <= AUTHOR_MAX and AUTHOR.match(author), (
        f"Author {author!r}: lower-case letters, digits and single hyphens, not at either end, <= {AUTHOR_MAX}"
    )


def test_metadata_labels_and_version(metadata: dict[str, Any]) -> None:
    labels = metadata.get("Labels", [])
    assert len(labels) <= LABELS_MAX, f"{len(labels)} labels; SAR allows {LABELS_MAX}"
    bad = [label for label in labels if not LABEL.match(label)]
    assert not bad, f"labels not matching SAR's pattern (1-127 of a-zA-Z0-9+-_:/@): {bad}"
    assert SEMVER.match(metadata["SemanticVersion"]), f"SemanticVersion {metadata['SemanticVersion']!r} is not semver"
    for key in ("HomePageUrl", "SourceCodeUrl"):
        if key in metadata:
            assert metadata[key].startswith("https://"), f"{key} {metadata[key]!r} should be an https URL"


@pytest.mark.parametrize("key", ["LicenseUrl", "ReadmeUrl"])
def test_metadata_files_exist(template: SamTemplate, metadata: dict[str, Any], key: str) -> None:
    path = template.root / metadata[key]
    assert path.is_file(), f"{key} {metadata[key]!r} is not a file next to the template"
    size = path.stat().st_size
    assert 0 < size <= ARTIFACT_MAX_BYTES, (
        f"{key} {metadata[key]!r} is {size} bytes; SAR allows 1..{ARTIFACT_MAX_BYTES}"
    )


# --- sam package against moto's S3 -------------------------------------------------------------------------------


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(moto_endpoint: str) -> Any:
    client = boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture(scope="module")
def packaged(
    template: SamTemplate, sam_cli: Path, sam_scratch: Path, sam_build: Path, moto_endpoint: str, s3: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> SamTemplate:  # fmt: skip
    """The template `sam package` writes after uploading the built application to moto's S3."""
    output = tmp_path_factory.mktemp("sam-package") / "packaged.yaml"
    env = sam_environment(sam_cli, template.root, sam_scratch)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
    )  # fmt: skip
    args = ["package", "--template-file", str(sam_build / "template.yaml"), "--s3-bucket", ARTIFACT_BUCKET]
    args += ["--output-template-file", str(output), "--region", REGION]
    result = subprocess.run(
        [str(sam_cli), *args], cwd=sam_build, env=env, capture_output=True, text=True,
        timeout=SAM_PACKAGE_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"sam package failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return SamTemplate.load(output)


def _s3_key(uri: Any, what: str) -> str:
    """The key of an s3://<artifact bucket>/<key> URI (or a {Bucket, Key} map), failing on anything else."""
    if isinstance(uri, dict):
        assert uri.get("Bucket") == ARTIFACT_BUCKET and uri.get("Key"), f"{what} is {uri!r}, not in the bucket"
        return uri["Key"]
    prefix = f"s3://{ARTIFACT_BUCKET}/"
    assert isinstance(uri, str) and uri.startswith(prefix), f"{what} is {uri!r}, not {prefix}..."
    return uri.removeprefix(prefix)


def _object(s3: Any, key: str, what: str) -> bytes:
    try:
        return s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        pytest.fail(f"{what} points at s3://{ARTIFACT_BUCKET}/{key}, which sam package did not upload")


def test_package_uploads_every_function(template: SamTemplate, packaged: SamTemplate, s3: Any) -> None:
    """Each function's CodeUri is an uploaded zip that contains its handler module."""
    functions = template.functions
    assert functions, "the template has no functions"
    for logical_id, function in functions.items():
        what = f"{logical_id}.CodeUri"
        key = _s3_key(packaged.resources[logical_id]["Properties"].get("CodeUri"), what)
        with zipfile.ZipFile(BytesIO(_object(s3, key, what))) as archive:
            names = set(archive.namelist())
        module = function.handler_module.replace(".", "/")
        assert {f"{module}.py", f"{module}/__init__.py"} & names, f"{what}: the zip has no {module}.py"


def test_package_uploads_layers_and_definitions(template: SamTemplate, packaged: SamTemplate, s3: Any) -> None:
    for logical_id in template.resources_of_type("AWS::Serverless::LayerVersion"):
        what = f"{logical_id}.ContentUri"
        key = _s3_key(packaged.resources[logical_id]["Properties"].get("ContentUri"), what)
        with zipfile.ZipFile(BytesIO(_object(s3, key, what))) as archive:
            assert any(name.startswith("python/") for name in archive.namelist()), f"{what}: no python/ folder"
    machines = template.state_machines
    assert machines, "the template has no state machines"
    for logical_id, machine in machines.items():
        what = f"{logical_id}.DefinitionUri"
        key = _s3_key(packaged.resources[logical_id]["Properties"].get("DefinitionUri"), what)
        assert _object(s3, key, what) == machine.definition_path.read_bytes(), f"{what}: uploaded ASL differs"


@pytest.mark.parametrize("key", ["LicenseUrl", "ReadmeUrl"])
def test_package_uploads_license_and_readme(
    template: SamTemplate, packaged: SamTemplate, s3: Any, metadata: dict[str, Any], key: str
) -> None:
    what = f"AWS::ServerlessRepo::Application.{key}"
    uri = packaged.document["Metadata"]["AWS::ServerlessRepo::Application"][key]
    assert _object(s3, _s3_key(uri, what), what) == (template.root / metadata[key]).read_bytes()
