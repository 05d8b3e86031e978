"""Documents handed in by citizens (issue 14): what a file is, checked by its content; the virus
scan by clamd; encrypted storage (a directory or the database); pages rendered to images for the
video room. Uses the scheduler, never the web layer."""
