"""ses-runbook: an executable runbook for an Amazon SES account."""
__version__ = "0.1.0"
