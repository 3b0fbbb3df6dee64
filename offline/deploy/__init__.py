"""From a trained model to what the runtime hosts: everything that exists only for export.

- `export`: a torch model (or a checkpoint) -> a model bundle (window and step ONNX graphs,
  manifest), checked against torch with onnxruntime (`rtadt-train export`).
- `shaping`: the explicit step of a causal model, built from its modules (recurrent layers as
  gate MatMuls, a convolutional front end as im2col MatMuls with batch norm folded in, states
  written whole and read from an offset): the form the int8 step graph is exported in.
- `quantize`: int8 quantization of a step graph's MatMuls (onnxruntime's dynamic
  quantization), activations quantized before an im2col Gather.

The architectures (offline.architectures) define the models and their plain step only.
"""
