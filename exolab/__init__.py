"""exolab: sample and biomarker tracking for extracellular-vesicle labs."""

__version__ = "0.1.0"
