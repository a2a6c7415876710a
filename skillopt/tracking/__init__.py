"""MLflow tracking for skillopt jobs. `mlflow` is imported lazily inside these modules' functions,
so importing this package (and the Hydra callback) stays cheap when tracking is off."""
