# English dates as the studio has always written them ("1 December 2026", "1 Dec 2026, 14:05");
# what is not here is Django's own English. Chinese uses Django's zh_Hans formats ("2026年12月1日").
DATE_FORMAT = "j F Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
