"""Training: split, fit candidates, evaluate, select, compare with the champion, promote."""
