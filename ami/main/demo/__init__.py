"""Demo data generator: the shapes a move must handle, at the sizes of a real project."""

from ami.main.demo.generate import DemoDataExistsError, DemoResult, generate_demo_data
from ami.main.demo.shapes import SCALES, DemoScale

__all__ = ["SCALES", "DemoDataExistsError", "DemoResult", "DemoScale", "generate_demo_data"]
