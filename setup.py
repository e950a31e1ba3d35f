"""What pyproject.toml cannot say: the packages under src/, and the shipped colour themes,
kept once in the top-level themes/ and mapped into the package (wheel, sdist and -e alike)."""

from setuptools import find_namespace_packages, setup

PACKAGES = find_namespace_packages("src", include=["promptexecution*"],
                                   exclude=["*__pycache__*"])

setup(
    packages=[*PACKAGES, "promptexecution.console.themes"],
    package_dir={"": "src", "promptexecution.console.themes": "themes"},
)
