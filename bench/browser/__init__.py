"""The browser bench: wasm_port and transformers.js in Chromium."""
