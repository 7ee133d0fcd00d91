"""Helpers for the reliability tests (issue 7): a desk of scripted agents and contacts, load
drivers, and the invariant checks that say whether anything was lost or doubled."""
