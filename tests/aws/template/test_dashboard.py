"""The dashboard and the alarms in the template: what they show is what the functions publish, and alarms reach a
person through the encrypted alert topic.

Read from the transformed template with every intrinsic resolved (for each parameter variant), so the dashboard's
Fn::Sub body is checked as CloudWatch receives it. Metric names, units and dimensions come from
mwaa_hibernate.metrics; tests/aws/statemachine/test_metrics_flow.py checks the functions really log them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from mwaa_hibernate import metrics
from mwaa_hibernate_sandbox.template import SamTemplate
from sam_helpers import ENVIRONMENT, Resolved

STATES = "AWS/States"
# What "a cycle failed" means for the alarm: any hibernate or wake execution that did not succeed.
FAILED_EXECUTION_METRICS = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
# AWS/States metrics the dashboard may show (Step Functions publishes them per state machine).
STATES_METRICS = {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionTime", *FAILED_EXECUTION_METRICS}


def _single(resolved: Resolved, resource_type: str) -> dict[str, Any]:
    found = resolved.of_type(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def dashboard(resolved: Resolved) -> dict[str, Any]:
    body = _single(resolved, "AWS::CloudWatch::Dashboard")["DashboardBody"]
    return json.loads(body)  # raises if the substituted body is not JSON


def dashboard_metrics(body: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """(widget title, namespace, metric name, dimensions) of every metric the dashboard queries."""
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            fields = [item for item in row if not isinstance(item, dict)]
            if not fields:  # a metric math expression row
                continue
            namespace, name, *pairs = fields
            yield widget["properties"]["title"], namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))


def state_machine_arns(resolved: Resolved) -> dict[str, str]:
    return {
        flow: resolved.physical[logical_id].ref
        for flow, logical_id in (("hibernate", "HibernateStateMachine"), ("wake", "WakeStateMachine"))
    }


def test_template_and_metrics_module_agree_on_namespace_and_service(template: SamTemplate) -> None:
    assert template.parameters["MetricsNamespace"].default == metrics.NAMESPACE
    variables = template.document["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == metrics.SERVICE
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert re.fullmatch(template.parameters["MetricsNamespace"].allowed_pattern, metrics.NAMESPACE)


def test_dashboard_body_is_json_and_shows_only_published_metrics_of_this_environment(resolved: Resolved) -> None:
    namespace = resolved.parameters.get("MetricsNamespace", metrics.NAMESPACE)
    arns = set(state_machine_arns(resolved).values())
    shown = list(dashboard_metrics(dashboard(resolved)))
    assert shown
    for title, space, name, dimensions in shown:
        if space == STATES:
            assert name in STATES_METRICS, f"{title}: {name}"
            assert dimensions.keys() == {"StateMachineArn"} and dimensions["StateMachineArn"] in arns, title
            continue
        assert space == namespace, f"{title}: namespace {space}"
        assert name in metrics.BY_NAME, f"{title}: {name} is not a metric the functions publish"
        assert dimensions == metrics.dimensions(ENVIRONMENT), f"{title}: {name} with dimensions {dimensions}"


def test_dashboard_shows_what_the_issue_asks_for(resolved: Resolved) -> None:
    body = dashboard(resolved)
    names = {name for _, _, name, _ in dashboard_metrics(body)}
    wanted = {
        metrics.ENVIRONMENT_AWAKE,
        metrics.SNAPSHOT_BYTES,
        metrics.SNAPSHOT_ROWS,
        metrics.SNAPSHOT_GROWTH_PERCENT,
        metrics.HOURS_HIBERNATED,
        metrics.HIBERNATIONS_FAILED,
        metrics.WAKES_FAILED,
    }
    assert {metric.name for metric in wanted} <= names
    assert {"ExecutionsSucceeded", "ExecutionTime", *FAILED_EXECUTION_METRICS} <= names
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "eu-west-1", widget["properties"]["title"]
    (alarms,) = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert len(alarms) == len(resolved.of_type("AWS::CloudWatch::Alarm"))


def test_every_alarm_notifies_the_alert_topic_when_it_fires_and_when_it_clears(resolved: Resolved) -> None:
    topic = resolved.physical["AlertTopic"].ref
    alarms = resolved.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 2
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic], logical_id
        assert props.get("ActionsEnabled", True) is True, logical_id
        # The description is the e-mail's explanation: it must say what to do (and fit CloudWatch's limit).
        assert "docs/operating.md" in props["AlarmDescription"] and len(props["AlarmDescription"]) <= 1024, logical_id


def test_cycle_failed_alarm_watches_every_unsuccessful_ending_of_both_state_machines(resolved: Resolved) -> None:
    alarm = resolved.of_type("AWS::CloudWatch::Alarm")["CycleFailedAlarm"]["Properties"]
    queries = [q for q in alarm["Metrics"] if "MetricStat" in q]
    watched = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for q in queries
        if q["MetricStat"]["Metric"]["Namespace"] == STATES
    }
    arns = state_machine_arns(resolved).values()
    assert watched == {(name, arn) for name in FAILED_EXECUTION_METRICS for arn in arns}
    assert all(q["MetricStat"]["Stat"] == "Sum" and q.get("ReturnData") is False for q in queries)
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression.get("ReturnData", True) is True and "METRICS()" in expression["Expression"]
    assert (alarm["ComparisonOperator"], float(alarm["Threshold"])) == ("GreaterThanOrEqualToThreshold", 1.0)


def test_snapshot_grew_alarm_reads_the_published_growth_with_the_parameters_threshold(
    resolved: Resolved, template: SamTemplate
) -> None:
    alarm = resolved.of_type("AWS::CloudWatch::Alarm")["SnapshotGrewAlarm"]["Properties"]
    assert alarm["MetricName"] == metrics.SNAPSHOT_GROWTH_PERCENT.name
    assert alarm["Namespace"] == resolved.parameters.get("MetricsNamespace", metrics.NAMESPACE)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == metrics.dimensions(ENVIRONMENT)
    threshold = resolved.parameters.get(
        "SnapshotGrowthAlarmPercent", template.parameters["SnapshotGrowthAlarmPercent"].default
    )
    assert float(alarm["Threshold"]) == float(threshold)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_growth_threshold_parameter_is_bounded(template: SamTemplate) -> None:
    spec = template.document["Parameters"]["SnapshotGrowthAlarmPercent"]
    assert spec["Type"] == "Number" and 1 <= spec["MinValue"] <= spec["Default"] <= spec["MaxValue"]


def test_cloudwatch_may_use_the_stacks_key_to_deliver_alarms_to_the_encrypted_topic(resolved: Resolved) -> None:
    """An encrypted topic silently drops alarm notifications unless the key policy lets CloudWatch use the key."""
    topic = _single(resolved, "AWS::SNS::Topic")
    keys = resolved.of_type("AWS::KMS::Key")
    if resolved.parameters.get("KmsKeyArn"):
        assert topic["KmsMasterKeyId"] == resolved.parameters["KmsKeyArn"]
        return  # docs/operating.md tells owners of their own key to add the same statement
    (key_id,) = keys
    assert topic["KmsMasterKeyId"] in (resolved.physical[key_id].ref, resolved.physical[key_id].attributes["Arn"])
    statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
    granted = [
        s
        for s in statements
        if s["Effect"] == "Allow" and "cloudwatch.amazonaws.com" in json.dumps(s.get("Principal", {}))
    ]
    assert granted, "CloudWatch cannot use the key: alarm notifications to the alert topic would be dropped"
    actions = {a for s in granted for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions
