"""Accuracy across seeds: statistics (pure), the regression gate, figures, the report and the stage."""
