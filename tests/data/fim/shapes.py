"""Shapes and their areas (a fixture of `codefill eval fim`)."""

import math


class Circle:
    """A circle of a given radius."""

    def __init__(self, radius):
        self.radius = radius

    def area(self):
        # pi r squared
        return math.pi * self.radius ** 2


def total_area(shapes):
    total = 0.0
    for shape in shapes:
        if shape is None:
            continue
        total += shape.area()
    return total


def describe(shape):
    name = type(shape).__name__
    text = f"{name} with area {shape.area():.2f}"
    return text
