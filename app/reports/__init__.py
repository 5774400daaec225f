"""Reports: time-window attribution with cost and ROI, the funnel, and time to convert.

The API and the CLI hand in query parameters as text; params.py checks them (each error
names its parameter); the reports read through the storage layer and return plain dicts.

- params.py: the parameters of each report and the period;
- snapshot.py: how a report runs (tables up to date, one read snapshot, no collector);
- journeys.py: the conversions a report credits and every touch of the people behind them;
- activity.py: counts and unique visitors over a period, from the report tables;
- costs.py: the one currency of a report, campaign costs over a period;
- attribution_table.py: the attribution report (and its CSV); how credit is shared among
  touches is app/reports/attribution.py;
- funnel_stages.py: the funnel;
- pipeline_report.py: the pipeline report (a cohort of leads through the stages, and its CSV);
- conversion_times.py: time to convert.
"""

from .activity import activity
from .attribution_table import (
    COLUMNS,
    DIRECT,
    SALES,
    UNATTRIBUTED,
    attribute,
    csv_filename,
    to_csv,
)
from .conversion_times import LATER, TIME_BUCKETS, time_to_convert
from .funnel_stages import funnel
from .journeys import Conversion, Journeys
from .params import (
    DEFAULT_PERIOD,
    DEFAULT_WINDOW_S,
    FORMATS,
    GROUP_BYS,
    NO_LABELS,
    PIPELINE_GROUP_BYS,
    Params,
    Period,
    attribution_params,
    funnel_params,
    pipeline_params,
    time_to_convert_params,
)
from .pipeline_report import csv_filename as pipeline_csv_filename
from .pipeline_report import pipeline_report
from .pipeline_report import to_csv as pipeline_csv

__all__ = [
    "COLUMNS",
    "DEFAULT_PERIOD",
    "DEFAULT_WINDOW_S",
    "DIRECT",
    "FORMATS",
    "GROUP_BYS",
    "LATER",
    "NO_LABELS",
    "PIPELINE_GROUP_BYS",
    "SALES",
    "TIME_BUCKETS",
    "UNATTRIBUTED",
    "Conversion",
    "Journeys",
    "Params",
    "Period",
    "activity",
    "attribute",
    "attribution_params",
    "csv_filename",
    "funnel",
    "funnel_params",
    "pipeline_csv",
    "pipeline_csv_filename",
    "pipeline_params",
    "pipeline_report",
    "time_to_convert",
    "time_to_convert_params",
    "to_csv",
]
