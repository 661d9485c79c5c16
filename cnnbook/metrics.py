"""Evaluation metrics. Detection: COCO's average precision (``cnnbook.detection_metrics``)."""
from .detection_metrics import (average_precision, mean_average_precision,
                                precision_recall_curve)

__all__ = ["average_precision", "mean_average_precision", "precision_recall_curve"]
