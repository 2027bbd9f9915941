"""Availability, SLA, MTBF/MTTR/MTTA, preventive maintenance and the report outputs.

    samples ─► rollup (hourly, daily; job) ─► availability (segments: daily, hourly, raw)
          incidents ─► metrics (MTTR, MTTA, SLA breaches) ─┐
    rule states ─► maintenance (forecasts, certs, trends) ─┴► build.Report ─► text/json/csv/html

This package's __init__ imports nothing: watchd.config imports watchd.report.config.
"""
