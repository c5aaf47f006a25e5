"""With STARTTLS the checklist names both EHLOs for what they are (issue 7, point 5)."""

from django.utils import translation

from emisario.console.probe import verdict_of
from emisario.core.smtp.endpoint import SecurityMode
from emisario.core.smtp.steps import Diagnosis, StepResult, StepStatus, step_order


def _diagnosis(security: SecurityMode, failed_at: int | None = None) -> Diagnosis:
    steps = []
    for index, step in enumerate(step_order(security)):
        status = StepStatus.PASSED
        if failed_at is not None and index >= failed_at:
            status = StepStatus.FAILED if index == failed_at else StepStatus.SKIPPED
        steps.append(
            StepResult(
                step=step,
                status=status,
                advice="protocol_unexpected" if status is StepStatus.FAILED else None,
            )
        )
    return Diagnosis(target="smtp.example.com:587", security=security.value, steps=steps)


def test_starttls_checklist_labels_the_second_ehlo_and_no_line_twice():
    with translation.override("es"):
        verdict = verdict_of(_diagnosis(SecurityMode.STARTTLS), {})
    labels = [step.label for step in verdict.steps]
    assert len(labels) == len(set(labels))
    ehlo_first = labels.index("EHLO (capacidades)")
    assert labels[ehlo_first + 1] == "Cifrado TLS"
    assert labels[ehlo_first + 2] == "EHLO de nuevo, ya cifrado (tras STARTTLS)"


def test_a_failure_at_the_second_ehlo_is_named_after_starttls():
    order = step_order(SecurityMode.STARTTLS)
    second_ehlo = [i for i, step in enumerate(order) if step.value == "ehlo"][1]
    with translation.override("en"):
        verdict = verdict_of(_diagnosis(SecurityMode.STARTTLS, failed_at=second_ehlo), {})
    assert verdict.failed_step == "EHLO again, encrypted (after STARTTLS)"


def test_implicit_tls_has_one_ehlo_with_the_plain_label():
    with translation.override("en"):
        verdict = verdict_of(_diagnosis(SecurityMode.TLS), {})
    assert [s.label for s in verdict.steps].count("EHLO (capabilities)") == 1
