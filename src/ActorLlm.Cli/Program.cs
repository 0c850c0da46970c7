using ActorLlm.Cli;

return await CliApp.MainAsync(args);
