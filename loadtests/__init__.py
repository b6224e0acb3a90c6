"""Load profiles (Locust), SLO gates and the benchmark for the todo API. See loadtests/README.md."""
