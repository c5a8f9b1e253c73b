"""Retries of a pod: a job's `retry` failure policy, or exit statuses that reschedule it (OSMO
`exitActions: RESCHEDULE`).

A rescheduled execution runs again in a new pod, as OSMO runs a new attempt: the pod exits
with the command's status (the runtime, under PIPEC_EXIT_ACTIONS, turns `complete` statuses
into success and runs nothing again itself), and the template's retryStrategy retries it, up to
the job's retries, when

    lastRetry.status == "Error" || <the status is a reschedule status>

`lastRetry.status` is "Error" where the pod itself was lost (its node failed, it was deleted or
evicted: Argo marks the node Error, "pod deleted"), or where Argo's own containers failed
(artifacts); `lastRetry.exitCode` is the main container's status ("-1" when there is none).
(Argo docs, retries.md, "Conditional retries"; the variables exist since Argo 3.2.)

The policy is `Always`, so that the expression alone decides: without one, the default
policy is OnFailure up to Argo 3.4 (an Error would never be retried, whatever the expression
says) and Always from 3.5 (retries.md, "Retry policies").
"""

from __future__ import annotations

from hera.workflows import models as m

from pipec import ir

EXIT_CODE = "asInt(lastRetry.exitCode)"


def reschedule_expression(ranges: tuple[tuple[int, int], ...]) -> str:
    """The retry expression for these reschedule statuses (inclusive ranges)."""
    singles = [str(a) for a, b in ranges if a == b]
    terms = ['lastRetry.status == "Error"']
    if singles:
        terms.append(f"{EXIT_CODE} in [{', '.join(singles)}]")
    terms += [f"({EXIT_CODE} >= {a} && {EXIT_CODE} <= {b})" for a, b in ranges if a != b]
    return " || ".join(terms)


def retry_plan(job: ir.Job) -> tuple[int, str | None]:
    """(retries Argo makes, the expression deciding them or None): the job's retries under its
    `retry` policy; with exit actions, only for reschedule statuses (and lost pods)."""
    codes = job.exit_codes
    if codes is None:
        return (job.retries if job.on_error is ir.OnError.RETRY else 0), None
    if not codes.reschedule or job.retries <= 0:
        return 0, None
    return job.retries, reschedule_expression(codes.reschedule)


def retry_strategy(retries: int, expression: str | None) -> m.RetryStrategy | None:
    if not retries:
        return None
    if expression is None:
        return m.RetryStrategy(limit=retries)
    return m.RetryStrategy(limit=retries, retry_policy="Always", expression=expression)
