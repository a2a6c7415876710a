"""Hydra applications: each turns a composed config into engine calls and reports the outcome."""
