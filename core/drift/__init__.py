"""Drift, ground truth and the monitoring job: reference profiles, the statistical tests
(Evidently's defaults), the prediction-log window, feedback and live metrics, reports."""
