"""``kcrm-gov check --format``: the gate's result as text, JSON, GitHub annotations or JUnit XML.

* ``text``: every problem, then one ``ok``/``FAIL`` line per step;
* ``json``: :meth:`GateResult.to_dict` (steps, details and the annotations below);
* ``github``: workflow commands (``::error file=…,line=…,col=…,title=…::message``) that GitHub
  Actions turns into annotations on the pull request's diff, then the step summaries;
* ``junit``: a JUnit XML report, one ``<testsuite>`` per step and one ``<testcase>`` per problem
  (a passing step is one passing test case), for CI systems that render test reports.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from . import Annotation, GateResult

FORMATS = ("text", "json", "github", "junit")


def render(result: GateResult, fmt: str) -> str:
    """The gate's result in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    if fmt == "github":
        return to_github(result)
    if fmt == "junit":
        return to_junit(result)
    return to_text(result)


def to_text(result: GateResult) -> str:
    lines: list[str] = []
    for step in result.steps:
        lines.extend(step.details)
    for step in result.steps:
        lines.append(f"{'ok  ' if step.ok else 'FAIL'} {step.name}: {step.summary}")
    lines.append("check passed" if result.ok else "check failed")
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(a: Annotation, step: str, level: str = "error") -> str:
    """One GitHub Actions workflow command for an annotation."""
    props = []
    if a.path:
        props.append(f"file={_escape_property(a.path)}")
        if a.line:
            props.append(f"line={a.line}")
        if a.column:
            props.append(f"col={a.column}")
    title = f"kcrm-gov {step}" + (f": {a.title}" if a.title and a.title != step else "")
    props.append(f"title={_escape_property(title)}")
    return f"::{level} {','.join(props)}::{_escape_data(a.message)}"


def to_github(result: GateResult) -> str:
    lines: list[str] = []
    for step in result.steps:
        if not step.ok:
            lines.extend(github_command(a, step.name) for a in step.annotations)
    for step in result.steps:
        lines.append(f"{'ok  ' if step.ok else 'FAIL'} {step.name}: {step.summary}")
    lines.append("check passed" if result.ok else "check failed")
    return "\n".join(lines)


def to_junit(result: GateResult) -> str:
    suites = ET.Element("testsuites", name="kcrm-gov check")
    total = failures = 0
    for step in result.steps:
        cases = step.annotations if not step.ok else []
        suite = ET.SubElement(suites, "testsuite", name=f"kcrm-gov.{step.name}")
        count = len(cases) or 1
        failed = len(cases) if cases else (0 if step.ok else 1)
        suite.set("tests", str(count))
        suite.set("failures", str(failed))
        suite.set("errors", "0")
        total += count
        failures += failed
        if not cases:
            case = ET.SubElement(suite, "testcase", classname=f"kcrm-gov.{step.name}", name=step.summary)
            if not step.ok:
                failure = ET.SubElement(case, "failure", message=step.summary, type=step.name)
                failure.text = "\n".join(step.details)
            continue
        for i, a in enumerate(cases):
            where = f"{a.path}:{a.line}:{a.column}" if a.path else step.name
            case = ET.SubElement(suite, "testcase", classname=f"kcrm-gov.{step.name}", name=f"{where}",
                                 file=a.path or "")
            if a.line:
                case.set("line", str(a.line))
            first = a.message.splitlines()[0] if a.message else step.summary
            failure = ET.SubElement(case, "failure", message=first, type=a.title or step.name)
            failure.text = step.details[i] if i < len(step.details) else a.message
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
