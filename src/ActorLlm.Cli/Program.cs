Console.WriteLine(ActorLlm.Inference.TorchRuntime.Probe());
