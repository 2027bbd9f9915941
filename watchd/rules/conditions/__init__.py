"""Pure computations behind rule conditions: window aggregates and linear forecasts."""
