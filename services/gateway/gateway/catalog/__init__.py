"""Model aliases and their deployments: the file/default set, with the control plane's registry live on top."""
