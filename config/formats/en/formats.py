"""How pages for people write times (the admin's read-only fields and lists): one format, the
zone always named, the same as ``config.times.for_people``. Contracts use ``config.times.iso``."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
