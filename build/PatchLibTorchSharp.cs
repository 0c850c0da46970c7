// MSBuild task (compiled by RoslynCodeTaskFactory, see TorchSharpNative.targets).
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so was linked with GCC 13+ and asks libstdc++ for version
// GLIBCXX_3.4.32. Debian 12 ships GCC 12's libstdc++ (up to GLIBCXX_3.4.30), so the dynamic loader refuses
// to load it and TorchSharp reports "libtorch not found". The library needs that version for exactly one
// symbol, _ZSt21ios_base_library_initv, which GCC 13's <iostream> references only to pull in a newer
// libstdc++ (`.globl` in the header); nothing relocates against it, so it is never looked up.
//
// What: where (and only where) the system libstdc++ lacks versions the library needs, and the ONLY missing
// version is one whose symbols are all unreferenced by relocations, write a patched copy that
//   1. marks that version-need entry weak (VER_FLG_WEAK in vna_flags), so its absence is not fatal, and
//   2. clears the version of its symbols (versym index 1 = global),
// and copy that copy instead of the package's file. Two bytes change in place; the file keeps its size.
// Anything else missing is a clear build error naming what to install. Running it again is a no-op.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

#nullable disable

public sealed class PatchLibTorchSharp : Task
{
    private const string LibraryName = "libLibTorchSharp.so";
    private const string StdCxxName = "libstdc++.so.6";

    /// <summary>The project's native copy-local items (NativeCopyLocalItems).</summary>
    [Required]
    public ITaskItem[] NativeItems { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Where the patched copy is written (the project's obj folder).</summary>
    [Required]
    public string IntermediateDirectory { get; set; } = "";

    /// <summary>Explicit libstdc++ path (tests, unusual systems); otherwise found through ldconfig.</summary>
    public string StdCxxPath { get; set; } = "";

    /// <summary>The item that was replaced (empty when nothing needed patching).</summary>
    [Output]
    public ITaskItem[] Replaced { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The patched item, with the replaced item's metadata.</summary>
    [Output]
    public ITaskItem[] Patched { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        var item = NativeItems.FirstOrDefault(i => Path.GetFileName(i.ItemSpec) == LibraryName);
        if (item == null)
        {
            return true;
        }

        var stdcxx = string.IsNullOrEmpty(StdCxxPath) ? FindStdCxx() : StdCxxPath;
        if (stdcxx == null)
        {
            Log.LogWarning("ActorLlm: could not find the system {0}; {1} is copied unpatched.", StdCxxName, LibraryName);
            return true;
        }

        byte[] lib = File.ReadAllBytes(item.ItemSpec);
        var defined = new HashSet<string>(Elf.VersionDefinitions(File.ReadAllBytes(stdcxx)));
        var needs = Elf.VersionNeeds(lib).Where(n => n.File == StdCxxName && !n.Weak).ToList();
        var missing = needs.Where(n => !defined.Contains(n.Name)).ToList();
        if (missing.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, "ActorLlm: {0} provides every version {1} needs; no patch.", stdcxx, LibraryName);
            return true;
        }

        foreach (var need in missing)
        {
            var users = Elf.SymbolsWithVersion(lib, need.Index);
            var referenced = users.Where(s => s.Relocated).Select(s => s.Name).ToList();
            if (referenced.Count > 0)
            {
                Log.LogError(
                    "ActorLlm: {0} needs {1} from {2}, which {3} lacks, and uses its symbols ({4}). " +
                    "Install a newer libstdc++ (GCC 13 or later) or use a distribution that has one.",
                    LibraryName, need.Name, StdCxxName, stdcxx, string.Join(", ", referenced));
                return false;
            }
        }

        string outDir = Path.Combine(IntermediateDirectory, "torchsharp-native");
        string outPath = Path.Combine(outDir, LibraryName);
        var source = new FileInfo(item.ItemSpec);
        var existing = new FileInfo(outPath);
        if (!existing.Exists || existing.LastWriteTimeUtc < source.LastWriteTimeUtc || existing.Length != source.Length)
        {
            foreach (var need in missing)
            {
                Elf.MakeVersionNeedWeak(lib, need);
                foreach (var sym in Elf.SymbolsWithVersion(lib, need.Index))
                {
                    Elf.ClearSymbolVersion(lib, sym);
                }
            }

            Directory.CreateDirectory(outDir);
            string tmp = outPath + ".tmp";
            File.WriteAllBytes(tmp, lib);
            File.Delete(outPath);
            File.Move(tmp, outPath);
            Log.LogMessage(
                MessageImportance.High,
                "ActorLlm: {0} lacks {1}; using a patched {2} (weak version need, unversioned unreferenced symbol).",
                stdcxx, string.Join(", ", missing.Select(m => m.Name)), LibraryName);
        }

        var patched = new TaskItem(outPath);
        item.CopyMetadataTo(patched);
        Replaced = new[] { item };
        Patched = new ITaskItem[] { patched };
        return true;
    }

    private static string FindStdCxx()
    {
        try
        {
            var psi = new ProcessStartInfo("ldconfig", "-p") { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            foreach (var line in text.Split('\n'))
            {
                // "	libstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6"
                if (line.Trim().StartsWith(StdCxxName + " ", StringComparison.Ordinal) && line.Contains("x86-64"))
                {
                    string path = line.Substring(line.IndexOf("=>", StringComparison.Ordinal) + 2).Trim();
                    if (File.Exists(path))
                    {
                        return path;
                    }
                }
            }
        }
        catch (Exception)
        {
            // ldconfig missing or not runnable: fall back to the usual locations.
        }

        return new[] { "/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/usr/lib64/", "/lib64/" }
            .Select(d => d + StdCxxName)
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Just enough ELF64 little-endian to read and patch symbol versioning.</summary>
    private static class Elf
    {
        private const uint ShtDynsym = 11, ShtRela = 4, ShtVerdef = 0x6ffffffd, ShtVerneed = 0x6ffffffe, ShtVersym = 0x6fffffff;

        // Plain classes: RoslynCodeTaskFactory compiles against netstandard, which has no records.
        public sealed class Need
        {
            public Need(string file, string name, ushort index, bool weak, int flagsOffset)
            {
                File = file;
                Name = name;
                Index = index;
                Weak = weak;
                FlagsOffset = flagsOffset;
            }

            public string File { get; }
            public string Name { get; }
            public ushort Index { get; }
            public bool Weak { get; }
            public int FlagsOffset { get; }
        }

        public sealed class Symbol
        {
            public Symbol(string name, bool relocated, int versymOffset)
            {
                Name = name;
                Relocated = relocated;
                VersymOffset = versymOffset;
            }

            public string Name { get; }
            public bool Relocated { get; }
            public int VersymOffset { get; }
        }

        private sealed class Section
        {
            public Section(uint type, long offset, long size, uint link)
            {
                Type = type;
                Offset = offset;
                Size = size;
                Link = link;
            }

            public uint Type { get; }
            public long Offset { get; }
            public long Size { get; }
            public uint Link { get; }
        }

        private static List<Section> Sections(byte[] b)
        {
            if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            {
                throw new InvalidDataException("not a 64-bit little-endian ELF file");
            }

            long shoff = BitConverter.ToInt64(b, 0x28);
            int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
            var list = new List<Section>();
            for (int i = 0; i < shnum; i++)
            {
                int o = checked((int)(shoff + (i * shentsize)));
                list.Add(new Section(BitConverter.ToUInt32(b, o + 4), BitConverter.ToInt64(b, o + 24), BitConverter.ToInt64(b, o + 32),
                    BitConverter.ToUInt32(b, o + 40)));
            }

            return list;
        }

        private static string CString(byte[] b, long offset)
        {
            int end = Array.IndexOf(b, (byte)0, checked((int)offset));
            return Encoding.ASCII.GetString(b, (int)offset, end - (int)offset);
        }

        public static IEnumerable<string> VersionDefinitions(byte[] b)
        {
            var secs = Sections(b);
            var def = secs.FirstOrDefault(s => s.Type == ShtVerdef);
            if (def == null)
            {
                yield break;
            }

            long strtab = secs[(int)def.Link].Offset, o = def.Offset;
            while (true)
            {
                // Elf64_Verdef: vd_version(2) vd_flags(2) vd_ndx(2) vd_cnt(2) vd_hash(4) vd_aux(4) vd_next(4)
                uint aux = BitConverter.ToUInt32(b, (int)o + 12), next = BitConverter.ToUInt32(b, (int)o + 16);
                yield return CString(b, strtab + BitConverter.ToUInt32(b, (int)(o + aux)));
                if (next == 0)
                {
                    yield break;
                }

                o += next;
            }
        }

        public static List<Need> VersionNeeds(byte[] b)
        {
            var secs = Sections(b);
            var result = new List<Need>();
            var vn = secs.FirstOrDefault(s => s.Type == ShtVerneed);
            if (vn == null)
            {
                return result;
            }

            long strtab = secs[(int)vn.Link].Offset, o = vn.Offset;
            while (true)
            {
                // Elf64_Verneed: vn_version(2) vn_cnt(2) vn_file(4) vn_aux(4) vn_next(4)
                int cnt = BitConverter.ToUInt16(b, (int)o + 2);
                string file = CString(b, strtab + BitConverter.ToUInt32(b, (int)o + 4));
                long a = o + BitConverter.ToUInt32(b, (int)o + 8);
                for (int i = 0; i < cnt; i++)
                {
                    // Elf64_Vernaux: vna_hash(4) vna_flags(2) vna_other(2) vna_name(4) vna_next(4)
                    ushort flags = BitConverter.ToUInt16(b, (int)a + 4), other = BitConverter.ToUInt16(b, (int)a + 6);
                    result.Add(new Need(file, CString(b, strtab + BitConverter.ToUInt32(b, (int)a + 8)), other, (flags & 2) != 0, (int)a + 4));
                    a += BitConverter.ToUInt32(b, (int)a + 12);
                }

                uint next = BitConverter.ToUInt32(b, (int)o + 12);
                if (next == 0)
                {
                    return result;
                }

                o += next;
            }
        }

        public static List<Symbol> SymbolsWithVersion(byte[] b, ushort version)
        {
            var secs = Sections(b);
            var dynsym = secs.First(s => s.Type == ShtDynsym);
            var versym = secs.First(s => s.Type == ShtVersym);
            long strtab = secs[(int)dynsym.Link].Offset;
            int dynsymIndex = secs.IndexOf(dynsym);
            var relocated = new HashSet<long>();
            foreach (var rela in secs.Where(s => s.Type == ShtRela && s.Link == dynsymIndex))
            {
                for (long o = rela.Offset; o < rela.Offset + rela.Size; o += 24)
                {
                    relocated.Add(BitConverter.ToInt64(b, (int)o + 8) >> 32);
                }
            }

            var result = new List<Symbol>();
            long count = dynsym.Size / 24;
            for (int i = 0; i < count; i++)
            {
                int vo = (int)(versym.Offset + (2 * i));
                if ((BitConverter.ToUInt16(b, vo) & 0x7fff) == version)
                {
                    string name = CString(b, strtab + BitConverter.ToUInt32(b, (int)(dynsym.Offset + (24 * i))));
                    result.Add(new Symbol(name, relocated.Contains(i), vo));
                }
            }

            return result;
        }

        public static void MakeVersionNeedWeak(byte[] b, Need need) =>
            BitConverter.GetBytes((ushort)(BitConverter.ToUInt16(b, need.FlagsOffset) | 2)).CopyTo(b, need.FlagsOffset);

        public static void ClearSymbolVersion(byte[] b, Symbol sym) => BitConverter.GetBytes((ushort)1).CopyTo(b, sym.VersymOffset);
    }
}
