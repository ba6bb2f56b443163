"""The saga: compensate a failed, cancelled or expired run's recorded effects in reverse order."""

from orchestrator.saga.service import COMPENSATION_FAILURES, COMPENSATIONS_TOTAL, SAGA_DLQ_SUBJECT, Saga, SagaResult

__all__ = ["COMPENSATIONS_TOTAL", "COMPENSATION_FAILURES", "SAGA_DLQ_SUBJECT", "Saga", "SagaResult"]
