using ActorLlm.Cli;

return await CliApp.RunAsync(args);
