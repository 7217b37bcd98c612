"""Package layout: the top-level migrations/ and fixtures/ folders ship inside the wheel."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["exolab", "exolab.*"]),
        "exolab.migrations",
        "exolab.migrations.versions",
        "exolab.fixtures",
    ],
    package_dir={
        "exolab.migrations": "migrations",
        "exolab.migrations.versions": "migrations/versions",
        "exolab.fixtures": "fixtures",
    },
)
