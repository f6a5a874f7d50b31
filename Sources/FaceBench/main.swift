// Placeholder: the single-thread face-detection benchmark lives here (see `make bench`).
print("face-bench: not written yet")
