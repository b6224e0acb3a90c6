"""Another team's implementation of the todo API, secure by default, with realistic defects to switch on one at a
time: the security suite's calibration target (zero findings when secure, exactly one per defect)."""

from __future__ import annotations

from tools.variants.app import DEFECTS, create_variant_app

__all__ = ["DEFECTS", "create_variant_app"]
