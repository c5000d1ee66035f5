"""Reusable console widgets: the status header, sparkline panels, the record view and the modals."""
