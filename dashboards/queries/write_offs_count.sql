-- How many write-offs the data holds (none: the overview says so instead of an empty chart).
select count(*) as n
from marts.fct_write_offs
