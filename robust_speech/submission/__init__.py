"""A model folder as the challenge receives it: checked the way the organizers will, and served as a web demo."""
