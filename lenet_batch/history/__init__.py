"""History across nights: the runs index as rows, runs.parquet, the trend figures and history.html."""
